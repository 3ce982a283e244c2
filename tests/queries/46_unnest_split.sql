SELECT word, count(*) AS n
FROM {{ table('offenses') }}
CROSS JOIN UNNEST(split(block_address, ' ')) AS t(word)
WHERE word <> ''
GROUP BY 1
ORDER BY 2 DESC, 1
LIMIT 5
