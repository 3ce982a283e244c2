WITH counted AS (
  SELECT precinct, offense_parent_group, count(*) AS n
  FROM {{ table('offenses') }}
  WHERE precinct IS NOT NULL
  GROUP BY 1, 2
), ranked AS (
  SELECT precinct, offense_parent_group, n,
         row_number() OVER (PARTITION BY precinct ORDER BY n DESC, offense_parent_group) AS rn
  FROM counted
)
SELECT precinct, offense_parent_group, n
FROM ranked
WHERE rn = 1
ORDER BY precinct
