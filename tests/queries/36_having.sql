SELECT mcpp, count(*) AS n
FROM {{ table('offenses') }}
WHERE mcpp IS NOT NULL
GROUP BY 1
HAVING count(*) > 500
ORDER BY 2 DESC, 1
