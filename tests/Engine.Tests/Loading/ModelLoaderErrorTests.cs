using ReconService.Engine.Loading;

namespace ReconService.Engine.Tests.Loading;

public sealed class ModelLoaderErrorTests : IDisposable
{
    private readonly TempFolder _temp = new();

    private string CopyHf() => _temp.CopyFolder(TestPaths.Golden("model"), "hf");

    private string CopyTdb() => _temp.CopyFolder(TestPaths.Golden("model_tdb"), "tdb");

    [SkippableFact]
    public void LoaderNamesFolderWhenItHoldsNoModel()
    {
        var error = Assert.Throws<WeightLoadException>(() => ModelLoader.Load(_temp.Path));
        LoadErrorAssert.Names(error, _temp.Path, null);
        Assert.Contains("model.safetensors", error.Message);
    }

    [SkippableFact]
    public void LoaderNamesFileWhenConfigLacksAKey()
    {
        var folder = CopyHf();
        var config = Path.Combine(folder, "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"n_head\"", "\"n_heads_renamed\""));

        var error = Assert.Throws<WeightLoadException>(() => ModelLoader.Load(folder));

        LoadErrorAssert.Names(error, config, "n_head");
    }

    [SkippableFact]
    public void LoaderNamesFileAndTensorWhenModelPieceIsMissing()
    {
        var folder = CopyTdb();
        var piece = Path.Combine(folder, "model_pieces", "xf_layers.0.ln_2.bias.pt");
        File.Delete(piece);

        var error = Assert.Throws<WeightLoadException>(() => ModelLoader.Load(folder));

        LoadErrorAssert.Names(error, piece, "xf_layers.0.ln_2.bias");
        Assert.Contains("missing file", error.Message);
    }

    [SkippableFact]
    public void LoaderNamesFileAndTensorWhenTensorIsMissing()
    {
        var folder = CopyHf();
        var file = Path.Combine(folder, "model.safetensors");
        var fixture = SafetensorsFixture.Read(file);
        fixture.Tensors.Remove(fixture["h.0.ln_2.weight"]);
        fixture.Write(file);

        var error = Assert.Throws<WeightLoadException>(() => ModelLoader.Load(folder));

        LoadErrorAssert.Names(error, file, "h.0.ln_2.weight");
        Assert.Contains("missing tensor", error.Message);
    }

    [SkippableFact]
    public void LoaderNamesFileAndTensorWhenTensorIsUnexpected()
    {
        var folder = CopyHf();
        var file = Path.Combine(folder, "model.safetensors");
        var fixture = SafetensorsFixture.Read(file);
        var source = fixture["ln_f.bias"];
        fixture.Tensors.Add(new SafetensorsFixture.Entry("h.0.attn.extra.weight", source.DType, source.Shape, source.Data));
        fixture.Write(file);

        var error = Assert.Throws<WeightLoadException>(() => ModelLoader.Load(folder));

        LoadErrorAssert.Names(error, file, "h.0.attn.extra.weight");
        Assert.Contains("unexpected tensor", error.Message);
    }

    [SkippableFact]
    public void LoaderNamesFileAndTensorWhenModelPieceIsUnexpected()
    {
        var folder = CopyTdb();
        var extra = Path.Combine(folder, "model_pieces", "xf_layers.0.attn.extra.pt");
        File.Copy(Path.Combine(folder, "model_pieces", "final_ln.bias.pt"), extra);

        var error = Assert.Throws<WeightLoadException>(() => ModelLoader.Load(folder));

        LoadErrorAssert.Names(error, extra, "xf_layers.0.attn.extra");
        Assert.Contains("unexpected tensor", error.Message);
    }

    [SkippableFact]
    public void LoaderNamesFileAndTensorWhenShapeIsWrong()
    {
        var folder = CopyHf();
        var file = Path.Combine(folder, "model.safetensors");
        var fixture = SafetensorsFixture.Read(file);
        var wpe = fixture["wpe.weight"];
        var (rows, cols) = (wpe.Shape[0], wpe.Shape[1]);
        wpe.Shape = [cols, rows];
        fixture.Write(file);

        var error = Assert.Throws<WeightLoadException>(() => ModelLoader.Load(folder));

        LoadErrorAssert.Names(error, file, "wpe.weight");
        Assert.Contains($"expected shape [{rows}, {cols}], got [{cols}, {rows}]", error.Message);
    }

    [SkippableFact]
    public void LoaderNamesFileAndTensorWhenModelPieceHasWrongShape()
    {
        var folder = CopyTdb();
        var pieces = Path.Combine(folder, "model_pieces");
        var piece = Path.Combine(pieces, "xf_layers.1.ln_1.bias.pt");
        File.Copy(Path.Combine(pieces, "pos_embed.weight.pt"), piece, overwrite: true);

        var error = Assert.Throws<WeightLoadException>(() => ModelLoader.Load(folder));

        LoadErrorAssert.Names(error, piece, "xf_layers.1.ln_1.bias");
        Assert.Contains("expected shape", error.Message);
    }

    [SkippableFact]
    public void LoaderNamesFileAndTensorWhenDtypeIsUnsupported()
    {
        var folder = CopyHf();
        var file = Path.Combine(folder, "model.safetensors");
        var fixture = SafetensorsFixture.Read(file);
        var bias = fixture["ln_f.bias"];
        bias.DType = "U8";
        bias.Shape = [bias.Data.Length];
        fixture.Write(file);

        var error = Assert.Throws<WeightLoadException>(() => ModelLoader.Load(folder));

        LoadErrorAssert.Names(error, file, "ln_f.bias");
        Assert.Contains("unsupported dtype U8", error.Message);
    }

    [SkippableFact]
    public void LoaderNamesFileAndTensorWhenModelPieceHasUnsupportedDtype()
    {
        var folder = CopyTdb();
        var piece = Path.Combine(folder, "model_pieces", "xf_layers.0.attn.q_proj.bias.pt");
        LoadErrorAssert.EditPickle(piece, "FloatStorage", "LongStorage");

        var error = Assert.Throws<WeightLoadException>(() => ModelLoader.Load(folder));

        LoadErrorAssert.Names(error, piece, "xf_layers.0.attn.q_proj.bias");
        Assert.Contains("unsupported dtype LongStorage", error.Message);
    }

    [SkippableFact]
    public void LoaderNamesFileAndTensorWhenSafetensorsFileIsTruncated()
    {
        var folder = CopyHf();
        var file = Path.Combine(folder, "model.safetensors");
        var last = SafetensorsFixture.Read(file).Tensors[^1].Name;
        LoadErrorAssert.Truncate(file, 100);

        var error = Assert.Throws<WeightLoadException>(() => ModelLoader.Load(folder));

        LoadErrorAssert.Names(error, file, last);
        Assert.Contains("truncated", error.Message);
    }

    [SkippableFact]
    public void LoaderNamesFileAndTensorWhenModelPieceIsTruncated()
    {
        var folder = CopyTdb();
        var piece = Path.Combine(folder, "model_pieces", "xf_layers.0.mlp.in_layer.weight.pt");
        LoadErrorAssert.Truncate(piece, 1000);

        var error = Assert.Throws<WeightLoadException>(() => ModelLoader.Load(folder));

        LoadErrorAssert.Names(error, piece, "xf_layers.0.mlp.in_layer.weight");
        Assert.Contains("truncated or corrupt", error.Message);
    }

    [SkippableFact]
    public void HuggingFaceLayoutAcceptsPrefixedKeysAttentionBuffersUntiedHeadAndBfloat16()
    {
        using var reference = ModelLoader.Load(TestPaths.Golden("model"));
        var folder = CopyHf();
        var file = Path.Combine(folder, "model.safetensors");
        var fixture = SafetensorsFixture.Read(file);
        var wte = fixture["wte.weight"];
        var head = new SafetensorsFixture.Entry("lm_head.weight", "F32", wte.Shape, [.. wte.Data[4..], .. wte.Data[..4]]);
        var ln = fixture["h.0.ln_1.weight"];
        ln.DType = "BF16";
        ln.Data = Enumerable.Range(0, ln.Data.Length / 4).SelectMany(i => ln.Data[(4 * i + 2)..(4 * i + 4)]).ToArray();
        foreach (var t in fixture.Tensors) t.Name = "transformer." + t.Name;
        fixture.Tensors.Add(head);
        fixture.Tensors.Add(new SafetensorsFixture.Entry("transformer.h.0.attn.bias", "U8", [4], [1, 0, 1, 1]));
        fixture.Tensors.Add(new SafetensorsFixture.Entry("transformer.h.1.attn.masked_bias", "F32", [], new byte[4]));
        fixture.Write(file);

        using var model = ModelLoader.Load(folder);

        Assert.Equal(reference.Config, model.Config);
        foreach (var (name, tensor) in reference.Parameters.Where(p => p.Key is not ("unembed.weight" or "xf_layers.0.ln_1.weight")))
            TensorAssert.Identical(tensor, model.Parameters[name], name);
        Assert.Equal(fixture.Floats("lm_head.weight"), model.Parameters["unembed.weight"].data<float>().ToArray());
        Assert.Equal(fixture.Floats("transformer.h.0.ln_1.weight"), model.Parameters["xf_layers.0.ln_1.weight"].data<float>().ToArray());
    }

    public void Dispose() => _temp.Dispose();
}
