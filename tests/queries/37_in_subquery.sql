SELECT count(*) AS n
FROM {{ table('offenses') }}
WHERE offense_parent_group IN (
  SELECT offense_parent_group
  FROM {{ table('offenses') }}
  GROUP BY 1
  ORDER BY count(*) DESC
  LIMIT 3
)
