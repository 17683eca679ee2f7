"""`python -m zoo.models [--check]`: regenerate (or check) the card index, zoo/card_index.json."""

import sys

from zoo.card_index import main

sys.exit(main())
