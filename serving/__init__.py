"""TensorFlow-Serving-compatible serving for zoo models (not built yet).

The server, the model repository and the client arrive with the serving issue. Serving reads only
SavedModels from disk; it never imports `zoo`'s training code (see DESIGN.md, data flow).
"""
