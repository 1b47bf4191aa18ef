using System.Text.Json;

namespace ReconService.Models.Tensors;

/// <summary>A tensor payload that cannot be read; <see cref="Member"/> names the payload field at fault.</summary>
public sealed class TensorPayloadException : JsonException
{
    /// <summary>Creates the error.</summary>
    /// <param name="member">Payload field at fault (<c>dtype</c>, <c>shape</c>, <c>data</c>), or empty for the payload itself.</param>
    /// <param name="message">What was expected and what was given.</param>
    public TensorPayloadException(string member, string message) : base(message) => Member = member;

    /// <summary>Payload field at fault (<c>dtype</c>, <c>shape</c>, <c>data</c>), or empty for the payload itself.</summary>
    public string Member { get; }
}
