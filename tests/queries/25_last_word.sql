SELECT element_at(split(block_address, ' '), -1) AS last_word, count(*) AS n
FROM {{ table('offenses') }}
WHERE block_address IS NOT NULL
GROUP BY 1
ORDER BY 2 DESC, 1
LIMIT 5
