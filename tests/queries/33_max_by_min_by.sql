SELECT max_by(report_number, offense_id) AS newest_report, min_by(offense, offense_id) AS oldest_offense
FROM {{ table('offenses') }}
