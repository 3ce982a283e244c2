SELECT regexp_replace(offense_parent_group, '[^A-Z]+', '_') AS slug, count(*) AS n
FROM {{ table('offenses') }}
GROUP BY 1
ORDER BY 2 DESC, 1
LIMIT 5
