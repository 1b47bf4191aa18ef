using ReconService.Engine.Reduction;
using ReconService.Models.Tensors;
using ReconService.Models.Wire;
using static TorchSharp.torch;

namespace ReconService.Engine.Tests.Reduction;

/// <summary>The <c>output</c> block: positions, indices, top-k and dtype, their order, shapes planned ahead and errors.</summary>
public sealed class OutputReductionTests
{
    private static float[] Floats(Tensor t) => t.to(ScalarType.Float32).contiguous().data<float>().ToArray();
    private static int[] Ints(Tensor t) => t.contiguous().data<int>().ToArray();

    /// <summary>[rows, cols] with value 10 * row + col.</summary>
    private static Tensor Grid(long rows, long cols) =>
        arange(rows, dtype: ScalarType.Float32).unsqueeze(1) * 10f + arange(cols, dtype: ScalarType.Float32);

    [Fact]
    public void GridHelperHoldsTenTimesRowPlusColumn()
    {
        using var scope = NewDisposeScope();
        Assert.Equal([0f, 1, 2, 10, 11, 12], Floats(Grid(2, 3)));
    }

    [Fact]
    public void PositionsKeepRowsInTheGivenOrderCountingNegativesFromTheEnd()
    {
        using var scope = NewDisposeScope();
        var reduced = OutputReduction.From(new OutputSpec { Positions = [-1, 0, 2] }).Apply("activations", Grid(4, 3), 0);
        Assert.Equal([3L, 3], reduced.Values.shape);
        Assert.Equal([30f, 31, 32, 0, 1, 2, 20, 21, 22], Floats(reduced.Values));
        Assert.Null(reduced.Indices);
    }

    [Fact]
    public void PositionsOfABatchedTensorSelectOnTheTokensAxisOfEverySequence()
    {
        using var scope = NewDisposeScope();
        var batch = stack([Grid(3, 2), Grid(3, 2) + 100f]); // [batch 2, tokens 3, 2]
        var reduced = OutputReduction.From(new OutputSpec { Positions = [-1] }).Apply("gradient", batch, 1);
        Assert.Equal([2L, 1, 2], reduced.Values.shape);
        Assert.Equal([20f, 21, 120, 121], Floats(reduced.Values));
    }

    [Fact]
    public void PositionsOfAttentionSelectTheQueryAxis()
    {
        using var scope = NewDisposeScope();
        var attention = arange(2 * 2 * 3, dtype: ScalarType.Float32).reshape(2, 2, 3); // [q, k, heads]
        var reduced = OutputReduction.From(new OutputSpec { Positions = [1] }).Apply("activations", attention, 0);
        Assert.Equal([1L, 2, 3], reduced.Values.shape);
        Assert.Equal([6f, 7, 8, 9, 10, 11], Floats(reduced.Values));
    }

    [Fact]
    public void IndicesKeepEntriesOfTheLastAxisInTheGivenOrder()
    {
        using var scope = NewDisposeScope();
        var reduced = OutputReduction.From(new OutputSpec { Indices = [4, 1] }).Apply("logprobs", Grid(2, 5), 0);
        Assert.Equal([2L, 2], reduced.Values.shape);
        Assert.Equal([4f, 1, 14, 11], Floats(reduced.Values));
    }

    [Fact]
    public void TopKByValueKeepsTheLargestEntriesOfEachRowLargestFirst()
    {
        using var scope = NewDisposeScope();
        var x = tensor(new[] { 0.5f, -3f, 2f, 1f, 0f, 7f, -7f, 6f }).reshape(2, 4);
        var reduced = OutputReduction.From(new OutputSpec { TopK = 2 }).Apply("activations", x, 0);
        Assert.Equal([2L, 2], reduced.Values.shape);
        Assert.Equal([2f, 1f, 7f, 6f], Floats(reduced.Values));
        Assert.Equal(ScalarType.Int32, reduced.Indices!.dtype);
        Assert.Equal([2, 3, 1, 3], Ints(reduced.Indices));
    }

    [Fact]
    public void TopKByAbsRanksByMagnitudeAndKeepsTheSign()
    {
        using var scope = NewDisposeScope();
        var x = tensor(new[] { 0.5f, -3f, 2f, 1f }).reshape(1, 4);
        var reduced = OutputReduction.From(new OutputSpec { TopK = 3, By = TopKBy.Abs }).Apply("activations", x, 0);
        Assert.Equal([-3f, 2f, 1f], Floats(reduced.Values));
        Assert.Equal([1, 2, 3], Ints(reduced.Indices!));
    }

    [Fact]
    public void TopKAfterIndicesCountsPositionsOnTheUnreducedAxis()
    {
        using var scope = NewDisposeScope();
        var x = tensor(new[] { 9f, 1f, 5f, 3f, 8f, 2f }).reshape(1, 6);
        // indices keep entries 5, 2, 3, 1 (values 2, 5, 3, 1); the top 2 are 5 (entry 2) and 3 (entry 3)
        var reduced = OutputReduction.From(new OutputSpec { Indices = [5, 2, 3, 1], TopK = 2 }).Apply("activations", x, 0);
        Assert.Equal([5f, 3f], Floats(reduced.Values));
        Assert.Equal([2, 3], Ints(reduced.Indices!));
    }

    [Fact]
    public void TopKMatchesASortOfEveryRowOnRandomValues()
    {
        using var scope = NewDisposeScope();
        var x = randn([3, 5, 40], generator: new TorchSharp.torch.Generator(11));
        var reduced = OutputReduction.From(new OutputSpec { TopK = 7, By = TopKBy.Abs }).Apply("activations", x, 1);
        var values = Floats(reduced.Values);
        var indices = Ints(reduced.Indices!);
        var all = Floats(x);
        for (var row = 0; row < 15; row++)
        {
            var expected = Enumerable.Range(0, 40).OrderByDescending(j => Math.Abs(all[row * 40 + j])).Take(7).ToArray();
            for (var j = 0; j < 7; j++)
            {
                Assert.Equal(expected[j], indices[row * 7 + j]);
                Assert.Equal(all[row * 40 + expected[j]], values[row * 7 + j]);
            }
        }
    }

    [Fact]
    public void TopKByValueRanksMaskedAttentionScoresLast()
    {
        using var scope = NewDisposeScope();
        var logits = tensor(new[] { 1f, float.NegativeInfinity, 3f, float.NegativeInfinity }).reshape(1, 4);
        var reduced = OutputReduction.From(new OutputSpec { TopK = 3 }).Apply("activations", logits, 0);
        Assert.Equal([3f, 1f, float.NegativeInfinity], Floats(reduced.Values));
        Assert.Equal([2, 0], Ints(reduced.Indices!)[..2]);
    }

    [Theory]
    [InlineData(OutputDtype.Float16, ScalarType.Float16)]
    [InlineData(OutputDtype.BFloat16, ScalarType.BFloat16)]
    public void DtypeConvertsTheValuesAndLeavesIndicesInt32(OutputDtype dtype, ScalarType expected)
    {
        using var scope = NewDisposeScope();
        var x = tensor(new[] { 1.0009765625f, -2.5f, 65000f, 0.1f }).reshape(1, 4);
        var reduced = OutputReduction.From(new OutputSpec { TopK = 4, Dtype = dtype }).Apply("activations", x, 0);
        Assert.Equal(expected, reduced.Values.dtype);
        Assert.Equal(ScalarType.Int32, reduced.Indices!.dtype);
        Assert.Equal(Floats(x.to(expected)).OrderByDescending(v => v), Floats(reduced.Values));
        Assert.All(Floats(reduced.Values), v => Assert.True(float.IsFinite(v))); // 65000 fits both (float16's largest is 65504)
    }

    [Fact]
    public void AFiniteValueOutsideFloat16IsRefusedNamingOutputDtypeWhileMaskedInfinitiesPass()
    {
        using var scope = NewDisposeScope();
        var x = tensor(new[] { 1f, float.NegativeInfinity, 2f, -70000f }).reshape(2, 2);
        var error = Assert.Throws<ReconstitutionException>(() =>
            OutputReduction.From(new OutputSpec { Dtype = OutputDtype.Float16 }).Apply("activations", x, 0));
        Assert.Equal("output.dtype", error.Field);
        Assert.Contains("activations: 1 value(s) outside float16's range, the first at [1, 1] is -70000", error.Message);

        var masked = OutputReduction.From(new OutputSpec { Dtype = OutputDtype.Float16 }).Apply("activations", x[..1], 0);
        Assert.Equal([1f, float.NegativeInfinity], Floats(masked.Values));
        var wide = OutputReduction.From(new OutputSpec { Dtype = OutputDtype.BFloat16 }).Apply("activations", x, 0);
        Assert.Equal(-70144f, Floats(wide.Values)[3]); // bfloat16 holds it (rounded to 8 bits of mantissa)
    }

    [Fact]
    public void NothingAskedReturnsTheSameTensor()
    {
        using var scope = NewDisposeScope();
        var x = Grid(2, 3);
        var reduction = OutputReduction.From(new OutputSpec { Dtype = OutputDtype.Float32 });
        Assert.True(reduction.IsIdentity);
        Assert.Same(x, reduction.Apply("activations", x, 0).Values);
        Assert.Same(OutputReduction.None, OutputReduction.From(null));
    }

    public static TheoryData<string, long[], int?> PlanCases() => new()
    {
        { """{"positions": [-1, 0]}""", [5, 7], 0 },
        { """{"positions": [2], "indices": [6, 0, 3]}""", [2, 4, 7], 1 },
        { """{"indices": [1], "topK": 1, "by": "abs", "dtype": "bfloat16"}""", [3, 3, 4], 0 },
        { """{"topK": 4, "dtype": "float16"}""", [6, 9], 0 },
        { """{"positions": [-2, -2], "topK": 2}""", [2, 3, 3, 5], 1 },
        { """{"dtype": "float32"}""", [4], null },
    };

    [Theory]
    [MemberData(nameof(PlanCases))]
    public void PlannedShapesAreTheShapesApplyReturns(string json, long[] shape, int? positionAxis)
    {
        using var scope = NewDisposeScope();
        var spec = System.Text.Json.JsonSerializer.Deserialize<OutputSpec>(json, new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web))!;
        var reduction = OutputReduction.From(spec);
        var plan = reduction.Plan("activations", shape, positionAxis);
        var reduced = reduction.Apply("activations", randn(shape), positionAxis);
        Assert.Equal(plan.Shape, reduced.Values.shape);
        Assert.Equal(OutputReduction.ScalarTypeOf(plan.Dtype), reduced.Values.dtype);
        Assert.Equal(plan.IndicesShape is null, reduced.Indices is null);
        if (reduced.Indices is not null) Assert.Equal(plan.IndicesShape!, reduced.Indices.shape);
        Assert.Equal("activationsIndices", plan.IndicesField);
        var values = plan.Shape.Aggregate(1L, (a, b) => a * b);
        Assert.Equal(values * plan.Dtype.Size() + (plan.IndicesShape is null ? 0 : values * 4), plan.ByteCount);
        Assert.Equal(plan.IndicesShape is null ? values : 2 * values, plan.ElementCount);
    }

    [Fact]
    public void PlanOfALogprobsTopKAnswerCountsOnlyTheKeptEntries()
    {
        var plan = OutputReduction.From(new OutputSpec { TopK = 5, Positions = [-1] }).Plan("logprobs", [128, 50257], 0);
        Assert.Equal([1L, 5], plan.Shape);
        Assert.Equal([1L, 5], plan.IndicesShape!);
        Assert.Equal(10, plan.ElementCount);
        Assert.Equal(40, plan.ByteCount);
    }

    public static TheoryData<string, string, string> SpecErrors() => new()
    {
        { """{"positions": []}""", "output.positions", "at least one position" },
        { """{"indices": []}""", "output.indices", "at least one index" },
        { """{"indices": [3, -1]}""", "output.indices", "entry 1 is -1" },
        { """{"topK": 0}""", "output.topK", "at least 1, got 0" },
        { """{"by": "abs"}""", "output.by", "only applies with output.topK" },
    };

    [Theory]
    [MemberData(nameof(SpecErrors))]
    public void BadSpecsAreRefusedNamingTheField(string json, string field, string message)
    {
        var spec = System.Text.Json.JsonSerializer.Deserialize<OutputSpec>(json, new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web))!;
        var e = Assert.Throws<ReconstitutionException>(() => OutputReduction.From(spec));
        Assert.Equal(field, e.Field);
        Assert.Contains(message, e.Message);
    }

    public static TheoryData<string, long[], int?, string, string> ShapeErrors() => new()
    {
        { """{"positions": [5]}""", [5, 3], 0, "output.positions", "entry 0 is 5, out of range for activations's 5 positions: expected -5 <= position < 5" },
        { """{"positions": [0, -6]}""", [2, 5, 3], 1, "output.positions", "entry 1 is -6" },
        { """{"positions": [0]}""", [5], null, "output.positions", "activations has no token axis" },
        { """{"indices": [0, 3]}""", [5, 3], 0, "output.indices", "entry 1 is 3, out of range for activations's last axis of 3" },
        { """{"topK": 4}""", [5, 3], 0, "output.topK", "4 is more than the 3 entries" },
        { """{"indices": [0, 1], "topK": 3}""", [5, 8], 0, "output.topK", "3 is more than the 2 entries" },
    };

    [Theory]
    [MemberData(nameof(ShapeErrors))]
    public void ShapesTheSpecDoesNotFitAreRefusedByPlanAndApply(string json, long[] shape, int? positionAxis, string field, string message)
    {
        using var scope = NewDisposeScope();
        var spec = System.Text.Json.JsonSerializer.Deserialize<OutputSpec>(json, new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web))!;
        var reduction = OutputReduction.From(spec);
        var planned = Assert.Throws<ReconstitutionException>(() => reduction.Plan("activations", shape, positionAxis));
        Assert.Equal(field, planned.Field);
        Assert.Contains(message, planned.Message);
        var applied = Assert.Throws<ReconstitutionException>(() => reduction.Apply("activations", zeros(shape), positionAxis));
        Assert.Equal(planned.Message, applied.Message);
    }

    [Fact]
    public void UnknownOutputMembersAndEnumSpellingsAreRefused()
    {
        var options = new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web);
        var unknown = Assert.Throws<System.Text.Json.JsonException>(() =>
            System.Text.Json.JsonSerializer.Deserialize<OutputSpec>("""{"k": 3}""", options));
        Assert.Contains("'k'", unknown.Message);
        Assert.Throws<System.Text.Json.JsonException>(() =>
            System.Text.Json.JsonSerializer.Deserialize<OutputSpec>("""{"dtype": "int32"}""", options));
        Assert.Throws<System.Text.Json.JsonException>(() =>
            System.Text.Json.JsonSerializer.Deserialize<OutputSpec>("""{"topK": 3, "by": "magnitude"}""", options));
    }
}
