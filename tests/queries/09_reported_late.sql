SELECT count_if(date_diff('day', offense_start_datetime, report_datetime) > 30) AS over_a_month,
       count_if(date_diff('hour', offense_start_datetime, report_datetime) < 1) AS within_the_hour,
       count_if(offense_start_datetime IS NULL) AS no_start
FROM {{ table('offenses') }}
