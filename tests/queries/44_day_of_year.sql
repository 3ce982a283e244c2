SELECT day_of_year(min(report_datetime)) AS first_day, day_of_year(max(report_datetime)) AS last_day
FROM {{ table('offenses') }}
