SELECT count(*) AS n
FROM {{ table('offenses') }}
WHERE report_datetime >= from_iso8601_timestamp('2024-02-01T00:00:00Z')
