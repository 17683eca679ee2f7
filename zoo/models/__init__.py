"""The model families. Importing this package registers every family's variants.

One module per family: its configurations as data, its builder, its cards. Blocks live in
`layers/`. Add a family by adding a module here and one import line below.
"""
