SELECT count(*) AS reports
FROM (
  SELECT report_number, arbitrary(report_datetime) AS reported
  FROM {{ table('offenses') }}
  GROUP BY 1
)
