SELECT count(*) AS n
FROM {{ table('offenses') }}
WHERE report_datetime < date_parse('2024/01/15', '%Y/%m/%d')
