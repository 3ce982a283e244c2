SELECT count_if(contains(split(block_address, ' '), 'AVE')) AS on_an_avenue
FROM {{ table('offenses') }}
