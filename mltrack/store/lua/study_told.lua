-- Note how trial ARGV[3] of search ARGV[2] ended, once: its job's status
-- ARGV[4] (or 'deleted'), in `search:<id>:told`, with a count per status
-- (`n:<status>` in the search's hash) and the best value so far (ARGV[5],
-- '' for none; goal ARGV[6] min|max) as `best_value`/`best_trial`. The driver
-- calls it before telling Optuna, so a crash between the two only repeats it
-- (a repeat changes nothing): the search's record then reads counts, not
-- every trial's job. ARGV: prefix, search id, number, status, value, goal.
-- Returns 1 when noted now, 0 when it was already.
local base = P .. 'search:' .. ARGV[2]
if redis.call('HSETNX', base .. ':told', ARGV[3], ARGV[4]) == 0 then return 0 end
redis.call('HINCRBY', base, 'n:' .. ARGV[4], 1)
if ARGV[4] == 'done' and ARGV[5] ~= '' then
  local value, best = tonumber(ARGV[5]), redis.call('HGET', base, 'best_value')
  if not best or (ARGV[6] == 'max' and value > tonumber(best))
      or (ARGV[6] == 'min' and value < tonumber(best))
  then
    redis.call('HSET', base, 'best_value', ARGV[5], 'best_trial', ARGV[3])
  end
end
return 1
