/// The Redis Lua script that decides a ``GCRABatch`` atomically (DESIGN.md §5).
///
/// Contract:
/// - `KEYS`: the distinct bucket keys of the batch (see ``RedisBucketKey``).
/// - `ARGV[2i-1]`, `ARGV[2i]` for each key `i`: emission interval `T` and burst tolerance `τ`, µs.
/// - then per check, in order: the number of buckets `n`, followed by `n` pairs of a 1-based key
///   index and the cost spent from it. (Rules carry their own cost, so the cost is per bucket.)
/// - `now` comes from `TIME` in microseconds; one `MGET` reads every TAT; checks are applied in
///   order to the values in the script; only keys of allowed checks are written, once, with
///   `SET key <tat> PX <ms until full again, at least 1>`; denials write nothing.
/// - returns a flat array, five integers per check: allowed (0 or 1), remaining (fewest over the
///   check's buckets), retry-after µs, reset µs (until the limiting bucket is full again), and the
///   0-based position in the check of the limiting bucket (the one with the fewest tokens left,
///   or when denied the one with the longest retry-after), so that responses can name the rule.
///
/// Arithmetic is exact: Lua numbers are doubles and every value stays an integer below 2^53
/// (a timestamp in µs is about 2^51); quotients are corrected after `math.floor`, and integers are
/// written with `string.format('%d')` so that `SET` never stores an exponent.
public enum GCRAScript {
    /// The script source.
    public static let source: String = #"""
        if redis.replicate_commands then redis.replicate_commands() end
        local time = redis.call('TIME')
        local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
        local nkeys = #KEYS
        local function idiv(a, b)
          local q = math.floor(a / b)
          if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end
          return q
        end
        local interval, limit, tats, dirty = {}, {}, {}, {}
        for i = 1, nkeys do
          interval[i] = tonumber(ARGV[2 * i - 1])
          local tolerance = tonumber(ARGV[2 * i])
          if not interval[i] or interval[i] < 1 or not tolerance or tolerance < 0 then
            return redis.error_reply('ERR sidecar gcra: bad parameters for key ' .. i)
          end
          limit[i] = tolerance + interval[i]
        end
        if nkeys > 0 then
          local values = redis.call('MGET', unpack(KEYS))
          for i = 1, nkeys do
            if values[i] then tats[i] = tonumber(values[i]) end
          end
        end
        local results = {}
        local pos = 2 * nkeys + 1
        local nargs = #ARGV
        while pos <= nargs do
          local n = tonumber(ARGV[pos])
          if not n or n < 0 or pos + 2 * n > nargs then
            return redis.error_reply('ERR sidecar gcra: bad check at argument ' .. pos)
          end
          pos = pos + 1
          local idx, cost, base = {}, {}, {}
          local allowed, retry, denying = true, 0, 1
          for j = 1, n do
            local k = tonumber(ARGV[pos])
            local c = tonumber(ARGV[pos + 1])
            pos = pos + 2
            if not k or not interval[k] or not c or c < 0 then
              return redis.error_reply('ERR sidecar gcra: bad key index or cost at argument ' .. (pos - 2))
            end
            idx[j], cost[j] = k, c
            local b = tats[k] or now
            if b < now then b = now end
            base[j] = b
            local ahead = b + c * interval[k] - now
            if ahead > limit[k] then
              allowed = false
              if ahead - limit[k] > retry then
                retry = ahead - limit[k]
                denying = j
              end
            end
          end
          local remaining, fewest, full = nil, 1, {}
          for j = 1, n do
            local k = idx[j]
            local ahead = base[j] - now
            if allowed then ahead = ahead + cost[j] * interval[k] end
            full[j] = ahead
            local left = limit[k] - ahead
            if left < 0 then left = 0 end
            local r = idiv(left, interval[k])
            if remaining == nil or r < remaining then
              remaining = r
              fewest = j
            end
          end
          local limiting = allowed and fewest or denying
          local reset = full[limiting] or 0
          if allowed then
            for j = 1, n do
              tats[idx[j]] = base[j] + cost[j] * interval[idx[j]]
              dirty[idx[j]] = true
            end
          end
          results[#results + 1] = allowed and 1 or 0
          results[#results + 1] = remaining or 0
          results[#results + 1] = retry
          results[#results + 1] = reset
          results[#results + 1] = limiting - 1
        end
        for i = 1, nkeys do
          if dirty[i] then
            local ms = idiv(tats[i] - now + 999, 1000)
            if ms < 1 then ms = 1 end
            redis.call('SET', KEYS[i], string.format('%d', tats[i]), 'PX', string.format('%d', ms))
          end
        end
        return results
        """#

    /// The SHA1 of ``source`` in lower-case hex, as `EVALSHA` and `SCRIPT LOAD` name it.
    public static let sha1: String = SHA1Hex.of(Array(source.utf8))
}
