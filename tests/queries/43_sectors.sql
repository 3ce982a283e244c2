SELECT precinct, count(DISTINCT sector) AS sectors
FROM {{ table('offenses') }}
WHERE precinct IS NOT NULL AND sector IS NOT NULL
GROUP BY 1
ORDER BY 1
