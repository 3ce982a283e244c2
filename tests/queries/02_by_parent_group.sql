SELECT offense_parent_group, count(*) AS n
FROM {{ table('offenses') }}
GROUP BY 1
ORDER BY 2 DESC, 1
LIMIT 10
