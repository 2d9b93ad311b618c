-- One row per citizen: the latest update wins (exact duplicates collapse to one). Names and
-- emails are normalized; rows that cannot be true on the run's date are dropped.
SELECT
  citizen_id,
  trim(first_name) AS first_name,
  trim(last_name) AS last_name,
  gender,
  birth_date,
  lower(trim(email)) AS email,
  phone,
  street,
  city,
  region,
  postal_code,
  occupation,
  annual_income,
  registered_at,
  updated_at
FROM (
  SELECT *,
         row_number() OVER (PARTITION BY citizen_id ORDER BY updated_at DESC) AS version
  FROM {{ ref('raw.citizens') }}
) latest
WHERE version = 1
  AND birth_date <= DATE '{{ ds }}'
  AND annual_income >= 0
