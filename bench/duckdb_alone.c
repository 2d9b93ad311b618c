/* The benchmark peer "DuckDB alone": converts a CSV to Parquet with the same DuckDB library
 * and the same read_csv options sluice uses, with nothing of sluice around it.
 * usage: bench_duckdb_alone SQL   (prints the seconds the statement took) */
#include <duckdb.h>
#include <stdio.h>
#include <time.h>

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s SQL\n", argv[0]);
    return 2;
  }
  duckdb_database db;
  duckdb_connection con;
  if (duckdb_open(NULL, &db) != DuckDBSuccess || duckdb_connect(db, &con) != DuckDBSuccess) {
    fprintf(stderr, "cannot open DuckDB\n");
    return 1;
  }
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  duckdb_result result;
  if (duckdb_query(con, argv[1], &result) != DuckDBSuccess) {
    fprintf(stderr, "%s\n", duckdb_result_error(&result));
    return 1;
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  duckdb_destroy_result(&result);
  printf("%.3f\n", (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
  duckdb_disconnect(&con);
  duckdb_close(&db);
  return 0;
}
