"""The model families. Importing this package registers every family's variants.

One module per family: its configurations as data, its builder, its cards. Blocks live in
`layers/`. Add a family by adding a module here and one import line below, then regenerate the
card index that `zoo list` and `zoo.card` read without importing Keras: `python -m zoo.card_index`.
"""

from zoo.models import alexnet  # noqa: F401
from zoo.models import conv1d  # noqa: F401
from zoo.models import convlstm  # noqa: F401
from zoo.models import densenet  # noqa: F401
from zoo.models import gnn  # noqa: F401
from zoo.models import inception_time  # noqa: F401
from zoo.models import lenet  # noqa: F401
from zoo.models import mlp  # noqa: F401
from zoo.models import mobilenet_v2  # noqa: F401
from zoo.models import recurrent  # noqa: F401
from zoo.models import resnet  # noqa: F401
from zoo.models import resnet1d  # noqa: F401
from zoo.models import sequence_transformer  # noqa: F401
from zoo.models import squeezenet  # noqa: F401
from zoo.models import vgg  # noqa: F401
from zoo.models import vit  # noqa: F401
