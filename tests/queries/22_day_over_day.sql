WITH daily AS (
  SELECT CAST(report_datetime AS DATE) AS d, count(*) AS n
  FROM {{ table('offenses') }}
  GROUP BY 1
)
SELECT d, n, n - lag(n) OVER (ORDER BY d) AS change
FROM daily
ORDER BY d
LIMIT 5
