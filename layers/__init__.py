"""Building-block Keras 3 layers of the zoo.

Every layer is one class with a docstring giving its arguments, input and output shapes and an
example, a complete `get_config`, and is registered for serialization under the package "zoo",
so models that use it save to and load from `.keras` files.
"""

from layers.conv1d_blocks import InceptionModule1D, ProjectionShortcut1D, ResidualBlock1D
from layers.dense_connect import DenseBlock, DenseLayer, TransitionBlock
from layers.fire import FireModule
from layers.graph_conv import GATv2Conv, GCNConv, GINConv, GINEConv, SAGEConv
from layers.graph_pooling import GraphReadout
from layers.inverted_residual import InvertedResidual
from layers.message_passing import MessagePassing, ValidateGraphBatch, validate_graph_batch
from layers.normalization import FusedBatchNormalization, LocalResponseNormalization
from layers.padding import Padding1D, Padding2D, Padding3D
from layers.residual import BasicBlock, BottleneckBlock
from layers.sequence import (
    ApplyMask,
    CausalDilatedResidualBlock,
    LastTimeStep,
    MaskedGlobalPooling1D,
    PadToLength,
    PaddingMask,
    SeriesStandardization,
    SinusoidalPositionEmbedding,
)
from layers.transformer import ClassToken, PatchEmbedding, PositionEmbedding, TransformerEncoderBlock
