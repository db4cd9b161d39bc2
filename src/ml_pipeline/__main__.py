import sys

from ml_pipeline.cli import main

sys.exit(main())
