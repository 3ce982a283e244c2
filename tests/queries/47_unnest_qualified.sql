SELECT count(DISTINCT u.word) AS distinct_words, count(*) AS words
FROM {{ table('offenses') }} AS o
CROSS JOIN UNNEST(split(o.block_address, ' ')) AS u(word)
