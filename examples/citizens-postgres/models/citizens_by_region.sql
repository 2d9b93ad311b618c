-- Citizens and income per region.
SELECT
  region,
  count(*) AS citizens,
  sum(annual_income) AS total_income,
  round(avg(annual_income), 2) AS avg_income
FROM {{ ref('staging.citizens') }}
GROUP BY region
ORDER BY region
