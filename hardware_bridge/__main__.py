import sys

from hardware_bridge.cli import main

sys.exit(main())
