SELECT count_if(regexp_like(block_address, ' / ')) AS intersections,
       count_if(regexp_like(block_address, '^\d+XX BLOCK OF ')) AS blocks
FROM {{ table('offenses') }}
