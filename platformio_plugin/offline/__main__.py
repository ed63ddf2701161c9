"""`python -m platformio_plugin.offline`, or `python path/to/platformio_plugin/offline` from anywhere."""
import os
import sys

if not __package__:      # run as a path: make the package importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from platformio_plugin.offline import main  # noqa: E402

sys.exit(main())
