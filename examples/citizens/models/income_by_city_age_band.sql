-- Citizens and income per region, city and age band, with ages as of the run's date.
-- Written in the SQL that DuckDB and Spark share (no QUALIFY, no date_diff).
WITH aged AS (
  SELECT
    region,
    city,
    annual_income,
    year(DATE '{{ ds }}') - year(birth_date)
      - CASE WHEN month(birth_date) > month(DATE '{{ ds }}')
               OR (month(birth_date) = month(DATE '{{ ds }}')
                   AND day(birth_date) > day(DATE '{{ ds }}'))
             THEN 1 ELSE 0 END AS age
  FROM {{ ref('staging.citizens') }}
)
SELECT
  region,
  city,
  CASE
    WHEN age < 18 THEN '0-17'
    WHEN age < 30 THEN '18-29'
    WHEN age < 45 THEN '30-44'
    WHEN age < 65 THEN '45-64'
    ELSE '65+'
  END AS age_band,
  count(*) AS citizens,
  CAST(sum(annual_income) AS DECIMAL(18,2)) AS total_income,
  -- The average to the cent, rounded half up, in exact arithmetic: DuckDB's avg() of a
  -- DECIMAL is a DOUBLE and Spark's a DECIMAL, and they round differently (docs/spark.md).
  CAST(CAST(floor(CAST(sum(annual_income) * 200 + count(*) AS DOUBLE) / (2 * count(*)))
            AS DECIMAL(16,0)) * 0.01 AS DECIMAL(14,2)) AS avg_income
FROM aged
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
