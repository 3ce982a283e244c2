SELECT 'person' AS kind, count(*) AS n FROM {{ table('offenses') }} WHERE crime_against_category = 'PERSON'
UNION ALL
SELECT 'property' AS kind, count(*) AS n FROM {{ table('offenses') }} WHERE crime_against_category = 'PROPERTY'
ORDER BY 1
