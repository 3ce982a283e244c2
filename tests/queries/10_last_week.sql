SELECT count(*) AS n
FROM {{ table('offenses') }}
WHERE report_datetime >= date_add('day', -7, (SELECT max(report_datetime) FROM {{ table('offenses') }}))
