-- Citizens and income per region.
SELECT
  region,
  count(*) AS citizens,
  CAST(sum(annual_income) AS DECIMAL(18,2)) AS total_income,
  -- The average to the cent, rounded half up, in exact arithmetic: DuckDB's avg() of a
  -- DECIMAL is a DOUBLE and Spark's a DECIMAL, and they round differently (docs/spark.md).
  CAST(CAST(floor(CAST(sum(annual_income) * 200 + count(*) AS DOUBLE) / (2 * count(*)))
            AS DECIMAL(16,0)) * 0.01 AS DECIMAL(14,2)) AS avg_income
FROM {{ ref('staging.citizens') }}
GROUP BY region
ORDER BY region
