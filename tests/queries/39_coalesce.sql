SELECT coalesce(precinct, 'UNKNOWN') AS precinct, count(*) AS n
FROM {{ table('offenses') }}
GROUP BY 1
ORDER BY 1
