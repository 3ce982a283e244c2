SELECT regexp_extract(block_address, '^(\d+)XX BLOCK', 1) AS hundreds, count(*) AS n
FROM {{ table('offenses') }}
WHERE regexp_extract(block_address, '^(\d+)XX BLOCK', 1) IS NOT NULL
GROUP BY 1
ORDER BY 2 DESC, 1
LIMIT 5
