import sys
from pathlib import Path

# Make servers.py / conftest_fixtures.py importable whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest_fixtures import hdfs_cluster, mariadb_server, postgres_server, spark_cluster, ssh_server  # noqa: E402,F401
