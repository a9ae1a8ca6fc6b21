-- name: WordSimilarity :one
SELECT word_similarity('word', 'two words');
