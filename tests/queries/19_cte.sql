WITH daily AS (
  SELECT CAST(report_datetime AS DATE) AS d, count(*) AS n
  FROM {{ table('offenses') }}
  GROUP BY 1
)
SELECT max(n) AS busiest, min(n) AS quietest, count(*) AS days
FROM daily
