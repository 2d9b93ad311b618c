# The two commands of README.md, and the steps they are made of.
#   make demo   install dependencies, build, generate a sample CSV, run the citizens pipeline
#   make test   install dependencies, build, run every test (what .ci/run calls)
BUILD ?= build
DEMO_DATE ?= 2026-11-21
DEMO_ROWS ?= 1000000
DEMO_DIR := examples/citizens
DEMO_CSV := $(DEMO_DIR)/incoming/citizens_data_$(subst -,,$(DEMO_DATE)).csv

.PHONY: deps build demo test unit e2e sanitize format format-check bench clean

deps:
	bash scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	ninja -C $(BUILD)

demo: build
	@test -f $(DEMO_CSV) || $(BUILD)/sluice-gen citizens --rows $(DEMO_ROWS) --out $(DEMO_CSV)
	$(BUILD)/sluice run $(DEMO_DIR)/pipeline.yaml --date $(DEMO_DATE)
	$(BUILD)/sluice query --pipeline $(DEMO_DIR)/pipeline.yaml \
	  "SELECT * FROM warehouse.marts.citizens_by_region ORDER BY citizens DESC"

test: build format-check unit e2e sanitize

unit:
	cd $(BUILD) && ctest --output-on-failure -j2

e2e:
	SLUICE_BIN=$(abspath $(BUILD))/sluice python3 -m pytest -q tests/e2e
	SLUICE_BIN=$(abspath $(BUILD))/sluice SLUICE_BUILD_DIR=$(abspath $(BUILD)) python3 -m pytest -q tests/servers

# The same tests on an AddressSanitizer + UndefinedBehaviorSanitizer build (leaks checked too),
# except what exercises no new code paths there and costs minutes: the croniter oracle (the
# cron and zone code runs under the sanitizers in the unit tests and the scheduler tests) and
# the Airflow DAG checks (Airflow's own runtime dominates), the Spark tests (the cluster's jobs
# dominate; the Spark client is gRPC calls, and the data path it shares with every task runs
# sanitized in the other tests) and the HDFS ones (the WebHDFS client runs sanitized in the
# conformance suite of tests/servers, against the real cluster). The HDFS and Spark cluster checks
# of tests/servers test the test harness's scripts, not sluice: they run once, unsanitized.
NOT_SANITIZED = --ignore=tests/e2e/test_schedule_oracle.py --ignore=tests/e2e/test_airflow.py \
  --ignore=tests/e2e/test_spark.py --ignore=tests/e2e/test_hdfs.py
HARNESS_ONLY = --ignore=tests/servers/test_hdfs_cluster.py --ignore=tests/servers/test_spark_cluster.py
sanitize: deps
	cmake -S . -B $(BUILD)-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=address,undefined >/dev/null
	ninja -C $(BUILD)-asan
	cd $(BUILD)-asan && UBSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j2
	SLUICE_SANITIZED=1 UBSAN_OPTIONS=halt_on_error=1 SLUICE_BIN=$(abspath $(BUILD)-asan)/sluice python3 -m pytest -q tests/e2e $(NOT_SANITIZED)
	UBSAN_OPTIONS=halt_on_error=1 SLUICE_BIN=$(abspath $(BUILD)-asan)/sluice SLUICE_BUILD_DIR=$(abspath $(BUILD)-asan) python3 -m pytest -q tests/servers $(HARNESS_ONLY)

format:
	clang-format -i $$(git ls-files 'src/*.cc' 'src/*.h' 'tools/*.cc' 'tools/*.h')

format-check:
	clang-format --dry-run -Werror $$(git ls-files 'src/*.cc' 'src/*.h' 'tools/*.cc' 'tools/*.h')

bench: build
	bash bench/ingest_bench.sh
	bash bench/peers.sh
	bash bench/mysql_load_bench.sh
	bash bench/daily_bench.sh
	bash bench/hdfs_bench.sh

clean:
	rm -rf $(BUILD)
