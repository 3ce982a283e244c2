SELECT date_diff('day', min(report_datetime), max(report_datetime)) AS span_days,
       date_diff('month', min(report_datetime), max(report_datetime)) AS span_months
FROM {{ table('offenses') }}
