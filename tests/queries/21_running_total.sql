WITH daily AS (
  SELECT CAST(report_datetime AS DATE) AS d, count(*) AS n
  FROM {{ table('offenses') }}
  GROUP BY 1
)
SELECT d, n, sum(n) OVER (ORDER BY d) AS running
FROM daily
ORDER BY d
LIMIT 5
