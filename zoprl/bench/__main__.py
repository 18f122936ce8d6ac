import sys

from zoprl.bench.suite import main

sys.exit(main())
