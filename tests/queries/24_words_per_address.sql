SELECT cardinality(split(block_address, ' ')) AS words, count(*) AS n
FROM {{ table('offenses') }}
WHERE block_address IS NOT NULL
GROUP BY 1
ORDER BY 1
