SELECT year, month, count(*) AS n
FROM {{ table('offenses') }}
WHERE year = 2024 AND month BETWEEN 1 AND 2
GROUP BY 1, 2
ORDER BY 1, 2
