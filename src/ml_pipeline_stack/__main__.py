import sys

from ml_pipeline_stack.cli import main

sys.exit(main())
