SELECT to_iso8601(min(report_datetime)) AS first, to_iso8601(max(report_datetime)) AS last
FROM {{ table('offenses') }}
