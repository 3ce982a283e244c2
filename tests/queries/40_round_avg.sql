SELECT precinct, round(avg(latitude), 3) AS lat, round(avg(longitude), 3) AS lon
FROM {{ table('offenses') }}
WHERE precinct IS NOT NULL
GROUP BY 1
ORDER BY 1
